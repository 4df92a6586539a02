import FieldworkDomain
import FieldworkProto
import Foundation

/// A small organisation: enough people, hospitals and products for story 1.
enum DemoData {
    static let people = """
        id,name,phone,wecom_user_id,department,region,supervisor_id,roles
        A0001,系统管理员,,admin,management,杭州,,admin
        D3001,王强,,wangqiang,management,杭州,,director
        M2001,李娜,,lina,sales,杭州,D3001,manager
        E1001,张伟,,zhangwei,sales,杭州,M2001,rep
        E1002,刘洋,,liuyang,sales,宁波,M2001,rep
        MK01,赵敏,,zhaomin,marketing,杭州,D3001,dept_head
        MK02,孙悦,,sunyue,marketing,杭州,MK01,rep
        LG01,周杰,,zhoujie,logistics,杭州,D3001,dept_head
        LG02,吴磊,,wulei,logistics,杭州,LG01,ops
        OP01,黄蕾,,huanglei,operations,杭州,D3001,ops
        CP01,郑洁,,zhengjie,compliance,杭州,D3001,dept_head
        GM01,陈总,,chenzong,management,杭州,,director
        FN01,钱芳,,qianfang,finance,杭州,GM01,dept_head
        """
    /// Departments with their heads (UpsertDepartment, after the people).
    static let departments: [(code: String, name: String, head: String)] = [
        ("marketing", "市场部", "MK01"), ("logistics", "物流部", "LG01"), ("compliance", "合规部", "CP01"),
        ("finance", "财务部", "FN01"), ("management", "总经办", "GM01"), ("sales", "销售部", "M2001"),
    ]
    /// Roles and department of each person, for their tokens.
    static let staff: [String: (roles: Set<Role>, department: String)] = [
        "D3001": ([.director], "management"), "M2001": ([.manager], "sales"), "E1001": ([.rep], "sales"), "E1002": ([.rep], "sales"),
        "MK01": ([.deptHead], "marketing"), "MK02": ([.rep], "marketing"), "LG01": ([.deptHead], "logistics"), "LG02": ([.ops], "logistics"), "OP01": ([.ops], "operations"),
        "CP01": ([.deptHead], "compliance"), "FN01": ([.deptHead], "finance"), "GM01": ([.director], "management"),
    ]
    /// A person's region, as `people` gives it.
    static func region(of person: String) -> String {
        let rows = people.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces).split(separator: ",", omittingEmptySubsequences: false) }
        return rows.first { $0.first.map(String.init) == person }.map { String($0[5]) } ?? ""
    }
    static let departmentMembers = ["marketing": ["MK01", "MK02"], "logistics": ["LG01", "LG02"], "compliance": ["CP01"]]

    static let customers = """
        id,registry_code,name,level,region,address,latitude,longitude,fence_radius_m,departments,owner_rep_id,grade,contacts
        H-ZJ-001,330100-0001,浙江大学医学院附属第一医院,三级甲等,杭州,杭州市上城区庆春路79号,30.2527,120.1780,300,骨科|检验科|器械科,E1001,A,王建国/器械科主任/器械科/0571-87236114|李敏/骨科主治医师/骨科
        H-ZJ-002,330100-0002,浙江大学医学院附属第二医院,三级甲等,杭州,杭州市上城区解放路88号,30.2566,120.1735,300,骨科,E1001,A,
        """

    static let products = """
        id,name,product_line
        SP-NEW-01,新型脊柱融合器,spine
        TR-201,创伤锁定接骨板,trauma
        """

    static let insideZheyi = Fieldwork_V1_GeoPoint.with { $0.latitude = 30.2530; $0.longitude = 120.1785; $0.accuracyM = 8 }
    /// 0.018° of latitude north of 浙一's centre: about 2 km.
    static let twoKilometresAway = Fieldwork_V1_GeoPoint.with { $0.latitude = 30.2707; $0.longitude = 120.1780; $0.accuracyM = 8 }

    /// A date `days` from today in Asia/Shanghai.
    static func shanghaiDate(daysFromToday days: Int) -> Fieldwork_V1_Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Asia/Shanghai")!
        let day = calendar.date(byAdding: .day, value: days, to: Date())!
        let parts = calendar.dateComponents([.year, .month, .day], from: day)
        return .with { $0.year = Int32(parts.year!); $0.month = Int32(parts.month!); $0.day = Int32(parts.day!) }
    }

    static func shanghaiToday() -> String {
        let d = shanghaiDate(daysFromToday: 0)
        return String(format: "%04d%02d%02d", d.year, d.month, d.day)
    }

    static func record(surgeryInDays days: Int?) -> Fieldwork_V1_VisitRecord {
        .with {
            $0.department = "骨科"
            $0.contactsMet = ["器械科主任"]
            $0.productIds = ["SP-NEW-01", "TR-201"]
            $0.objectionType = .price
            $0.objectionNote = "价格高于竞品约8%"
            $0.intent = .trial
            $0.stageReached = .needsConfirmed
            $0.nextStep = "下周送样"
            if let days {
                $0.surgerySupport = .with {
                    $0.needed = true
                    $0.surgeryDate = shanghaiDate(daysFromToday: days)
                    $0.department = "骨科"
                    $0.productIds = ["SP-NEW-01"]
                }
            }
        }
    }
}
